"""adowner.chain"""
