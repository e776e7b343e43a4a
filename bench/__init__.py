# marketintel first, before any benchmark imports pandas (which loads pyarrow): it sets Arrow's allocator
# options, which are read when pyarrow loads (see src/marketintel/__init__.py)
import marketintel  # noqa: F401
