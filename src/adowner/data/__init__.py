"""adowner.data"""
