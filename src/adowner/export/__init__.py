"""adowner.export"""
