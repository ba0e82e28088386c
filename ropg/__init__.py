"""ROPG: optimise a retriever from the LLM's feedback (knowledge distillation and RL)."""
