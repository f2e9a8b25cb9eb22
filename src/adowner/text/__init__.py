"""adowner.text"""
