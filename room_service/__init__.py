"""Bodyswap's room service: rooms, invites, LiveKit tokens, and the game."""
