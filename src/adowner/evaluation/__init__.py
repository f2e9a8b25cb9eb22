"""adowner.evaluation"""
