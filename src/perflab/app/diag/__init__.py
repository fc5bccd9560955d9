"""A calibrated CPU kernel, to see what each offloader does without any domain in the way."""
