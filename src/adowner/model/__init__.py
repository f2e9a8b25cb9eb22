"""adowner.model"""
