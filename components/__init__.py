"""hive on Pulumi: the components behind ``__main__.py``.

``components.inventory`` is the pure site model (no Pulumi resources); the other subpackages turn it into
resources. ``python -m components`` is the offline inventory command.
"""
