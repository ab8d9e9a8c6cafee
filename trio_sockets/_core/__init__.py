"""The pure layer: values, tables and rules, with no socket calls and no ``await``."""
