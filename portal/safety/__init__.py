"""Safety: every possible adverse event reaches Pharmacovigilance, wherever it was said.

Detection (``detection``) and its phrase data (``phrases/``), and PV cases (``models``,
``services``), used by questions and chat alike.
"""
