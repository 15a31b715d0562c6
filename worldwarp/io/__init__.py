"""Reading user inputs and writing standard output formats (images, video)."""
