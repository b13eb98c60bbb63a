"""Evaluation: caption metrics and perplexity."""
