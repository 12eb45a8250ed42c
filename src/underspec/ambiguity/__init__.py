"""Reveal the ambiguity (diverse heads), buy labels (query), disambiguate and decide."""
