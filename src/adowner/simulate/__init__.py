"""adowner.simulate"""
