"""A real daemon for the CLI's command families, with an upstream each test module starts
when it wants mail to leave."""

from tests.integration.harness import operator_herald, operator_upstream

__all__ = ["operator_herald", "operator_upstream"]
