"""The built-in methods, one package each (see :mod:`selfinstruct.methods.base`).

Each package exports ``METHOD``, its :class:`~selfinstruct.methods.base.Method` subclass; the
registry finds them by listing this folder. Nothing outside this folder imports a method.
"""
