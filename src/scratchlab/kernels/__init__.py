"""Hand-written Triton kernels, each a drop-in for a sequence of torch operations on a GPU.

A module here holds kernels only (it imports Triton); the code that calls one, with its torch
fallback and its check against torch on first use, sits beside what it speeds up:
`models.tiny_conv`, `models.tiny_head`, `models.stacked_loss`, `models.fast_norm`,
`models.fast_pool` and `training.accel.batched_optim`. `support` is what they share.
"""
