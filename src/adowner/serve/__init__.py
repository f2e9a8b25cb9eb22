"""adowner.serve"""
