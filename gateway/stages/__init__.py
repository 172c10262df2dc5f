"""One module per pipeline stage (see DESIGN.md's stage table); each testable on its own."""
