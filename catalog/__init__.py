"""The model catalog: schema, loading and checks. Imports nothing else of ours."""

from catalog.errors import CatalogError
from catalog.loader import DEFAULT_CATALOG_PATH, load_catalog, parse_catalog
from catalog.model import Catalog

__all__ = ["DEFAULT_CATALOG_PATH", "Catalog", "CatalogError", "load_catalog", "parse_catalog"]
