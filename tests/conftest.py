"""Test-session set-up: the CPU instruction-set pin, before any test imports torch (see avsnn.isa)."""

from avsnn import isa

isa.pin_environment()
