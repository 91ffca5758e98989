"""A tiny, safe expression language for score normalisation (``"1 / (1 + s)"``).

Task files write how a raw score maps to a "higher is better" number. The expression may use the
variable ``s``, numbers, ``+ - * /``, unary minus, parentheses and the functions ``min``, ``max``,
``clip(x, lo, hi)``, ``abs`` and ``log``. Anything else is rejected when the task is loaded.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

_FUNCS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "log": math.log,
    "clip": lambda x, lo, hi: min(max(x, lo), hi),
}
_BINOPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


class NormalizeSyntaxError(ValueError):
    """The expression uses something outside the allowed language."""


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.Expression):
        _check(node.body)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, int | float) or isinstance(node.value, bool):
            raise NormalizeSyntaxError(f"only numbers are allowed, not {node.value!r}")
    elif isinstance(node, ast.Name):
        if node.id != "s":
            raise NormalizeSyntaxError(f"unknown name '{node.id}' (the raw score is 's')")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise NormalizeSyntaxError("only + - * / are allowed")
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise NormalizeSyntaxError("only unary minus is allowed")
        _check(node.operand)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS or node.keywords:
            raise NormalizeSyntaxError(f"functions allowed: {', '.join(sorted(_FUNCS))}")
        for arg in node.args:
            _check(arg)
    else:
        raise NormalizeSyntaxError(f"'{type(node).__name__}' is not allowed")


def _eval(node: ast.AST, s: float) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body, s)
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)  # _check allows numbers only
        return float(node.value)
    if isinstance(node, ast.Name):
        return s
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_eval(node.left, s), _eval(node.right, s))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, s)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return float(_FUNCS[node.func.id](*(_eval(a, s) for a in node.args)))
    raise AssertionError("unchecked node")  # _check rejects everything else


class Normalizer:
    """A compiled normalisation expression: ``Normalizer("s / 500")(250.0) == 0.5``."""

    def __init__(self, expression: str) -> None:
        try:
            tree = ast.parse(expression, mode="eval")
        except SyntaxError as exc:
            raise NormalizeSyntaxError(f"not an expression: {exc.msg}") from None
        _check(tree)
        self.expression = expression
        self._tree = tree

    def __call__(self, s: float) -> float:
        """The normalised value of raw score ``s``; NaN where the expression is undefined."""
        try:
            return _eval(self._tree, float(s))
        except (ZeroDivisionError, ValueError, OverflowError):
            return math.nan

    def to_sql(self, column: str = "s") -> str:
        """The same expression in DuckDB SQL over ``column`` (the analysis views use it).

        NULL wherever the Python form gives NaN: a division by zero or the log of a number
        that is not positive.
        """
        return _sql(self._tree, column)

    def __repr__(self) -> str:
        return f"Normalizer({self.expression!r})"


_SQL_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _sql(node: ast.AST, column: str) -> str:
    if isinstance(node, ast.Expression):
        return _sql(node.body, column)
    if isinstance(node, ast.Constant):
        return f"{float(node.value)!r}::DOUBLE"
    if isinstance(node, ast.Name):
        return f"({column})::DOUBLE"
    if isinstance(node, ast.BinOp):
        left, right = _sql(node.left, column), _sql(node.right, column)
        if isinstance(node.op, ast.Div):
            return f"({left} / nullif({right}, 0.0))"
        return f"({left} {_SQL_OPS[type(node.op)]} {right})"
    if isinstance(node, ast.UnaryOp):
        operand = _sql(node.operand, column)
        return f"(-{operand})" if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [_sql(a, column) for a in node.args]
        name = node.func.id
        if name == "min":
            return f"least({', '.join(args)})"
        if name == "max":
            return f"greatest({', '.join(args)})"
        if name == "clip":
            return f"least(greatest({args[0]}, {args[1]}), {args[2]})"
        if name == "abs":
            return f"abs({args[0]})"
        if name == "log":
            return f"CASE WHEN {args[0]} > 0 THEN ln({args[0]}) END"
    raise AssertionError("unchecked node")  # _check rejects everything else
