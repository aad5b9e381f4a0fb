"""Kinds of file as data: rules/kinds/*.toml -> KindSpec."""
