"""Online GRPO through the compiled graph (a later issue)."""
