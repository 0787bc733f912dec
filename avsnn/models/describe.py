"""The order of operations of a residual block, read off the built module (not typed by hand).

:func:`block_operations` traces a block with :mod:`torch.fx`, treating its direct children
(convolutions, batch norms, LIF layers, the shortcut) as opaque steps, and returns its two
branches up to the residual addition and what follows the addition. The book's tables of the
vision blocks (chapters 05 and 09) are made from it.
"""

from __future__ import annotations

import operator
from functools import partial

import torch.fx as fx
from torch import nn

from ..core.lif import LIF
from .layers import make_lif


class _ChildrenAsLeaves(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return "." not in qualname


def _label(module: nn.Module) -> str:
    if isinstance(module, LIF):
        return "LIF"
    kinds = [type(m).__name__ for m in module.modules() if not list(m.children()) and not isinstance(m, nn.Identity)]
    if not kinds:
        return "identity"
    names = {"Conv2d": "conv", "BatchNorm2d": "BN"}
    return "+".join(names.get(k, k) for k in kinds)


def block_operations(block_cls, stride: int = 2) -> dict:
    """``{"residual": [...], "shortcut": [...], "after_add": [...]}`` for a vision block class.

    Each list holds the steps in the order the forward pass applies them: ``"conv"``, ``"BN"``,
    ``"LIF"``, ``"conv+BN"`` (the 1x1 projection shortcut), ``"identity"``.
    """
    block = block_cls(8 if stride == 1 else 4, 8, stride, partial(make_lif, 0.9, 1.0, None))
    graph = _ChildrenAsLeaves().trace(block)
    modules = dict(block.named_children())
    adds = [n for n in graph.nodes if n.op == "call_function" and n.target in (operator.add, operator.iadd)]
    if len(adds) != 1:
        raise ValueError(f"{block_cls.__name__}: expected one residual addition, found {len(adds)}")
    add = adds[0]

    def chain(node) -> list:
        steps = []
        while node.op == "call_module":
            steps.append(_label(modules[node.target]))
            node = node.args[0]
        return steps[::-1]

    branches = [chain(a) for a in add.args]
    with_shortcut = [
        i
        for i, a in enumerate(add.args)
        if any(n.op == "call_module" and n.target == "shortcut" for n in _ancestors(a))
    ]
    s = with_shortcut[0] if with_shortcut else 1
    after, node = [], add
    while True:
        users = [u for u in node.users if u.op == "call_module"]
        if not users:
            break
        node = users[0]
        after.append(_label(modules[node.target]))
    return {"residual": branches[1 - s], "shortcut": branches[s], "after_add": after}


def _ancestors(node):
    stack, seen = [node], []
    while stack:
        n = stack.pop()
        seen.append(n)
        stack.extend(a for a in n.args if isinstance(a, fx.Node))
    return seen


def format_operations(ops: dict) -> str:
    """One line: ``conv → LIF → BN → conv → BN (+ shortcut: conv+BN) → LIF``."""
    text = " → ".join(ops["residual"]) + f" (+ shortcut: {' → '.join(ops['shortcut'])})"
    return text + "".join(f" → {s}" for s in ops["after_add"])
