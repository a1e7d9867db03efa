"""Bodyswap's media worker: one LiveKit agent job per game room turns each player's raw camera and
microphone into the body they wear."""
