"""tiny_conv reads N models' stacked weights and biases in place, from one row per model."""

from __future__ import annotations

STACKED = """
    import torch
    import torch.nn.functional as F
    from scratchlab.models.tiny_conv import _TinyConv
    torch.manual_seed(0)
    n, out, cin, k = 3, 2, 2, 3
    size = out * cin * k * k
    rows = torch.randn(n, size + out + 5, dtype=torch.float64)  # one row per model, and more
    x = torch.randn(2, n * cin, 7, 6, dtype=torch.float64)
    g = torch.randn(2, n * out, 3, 3, dtype=torch.float64)
    found = []
    for dtype in (torch.float32, torch.float64):
        r, xi = rows.to(dtype).requires_grad_(), x.to(dtype).requires_grad_()
        w, b = r[:, :size].view(n, out, cin, k, k), r[:, size:size + out]
        if dtype == torch.float32:  # the models' weights read in place, as the trainer holds them
            y = _TinyConv.apply(xi, w, b, n, (1, 1, 1, 1), True, True, 1)
        else:
            padded = F.pad(xi, (1, 1, 1, 1), mode="reflect")
            conv = F.conv2d(padded, w.reshape(n * out, cin, k, k), b.reshape(-1), groups=n)
            y = F.max_pool2d(F.relu(conv), 2)
        found.append([y, *torch.autograd.grad(y, (xi, r), g.to(dtype))])
    print(max(float((a.double() - e).abs().max() / e.abs().max())
              for a, e in zip(*found, strict=True)))
"""


def test_stacked_weights_are_read_in_place_as_torch_computes_them(triton_interpreter) -> None:
    assert float(triton_interpreter(STACKED)) < 1e-5  # float32 round-off against float64
