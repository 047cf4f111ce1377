"""The API's answers as pydantic models, one module per feature (…Read, …Created, …Page)."""
