"""restyle"""
