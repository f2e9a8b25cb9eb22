"""adowner.link"""
