"""The product: named pipelines, the library cache, the recommend core and the command line."""
