"""Start the book's notebook kernels with encrypted ZMQ transport, as ``avsnn chapter run`` does.

myst-nb executes each chapter through jupyter-cache's ``single_nb_execution``, which hands its keyword
arguments to nbclient's ``NotebookClient``; without a ``config`` that client's kernel manager provisions no
CurveZMQ keys, so ipykernel warns ``Kernel is running over TCP without encryption`` on every start.
This extension passes the kernel configuration of :func:`avsnn.tools.chapter.kernel_config` to that call
and changes nothing else about execution (the cache keys, timeouts and outputs stay as they are).
"""

import functools

from myst_nb.core.execute import cache, direct

from avsnn.tools.chapter import kernel_config

#: the myst-nb modules that start kernels through single_nb_execution (execution modes cache, auto, force)
EXECUTORS = (cache, direct)


def with_kernel_config(execute):
    """``execute`` (jupyter-cache's ``single_nb_execution``), its notebook client given :func:`kernel_config`."""
    if getattr(execute, "avsnn_kernel_config", False):
        return execute

    @functools.wraps(execute)
    def run(*args, **kwargs):
        kwargs.setdefault("config", kernel_config())
        return execute(*args, **kwargs)

    run.avsnn_kernel_config = True
    return run


def setup(app):
    """Sphinx entry point: wrap the executors once per process."""
    for module in EXECUTORS:
        module.single_nb_execution = with_kernel_config(module.single_nb_execution)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
