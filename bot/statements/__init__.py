"""Artisans' statements of income: the PDF they take to a lender, and ``GET /verify/<code>``
where the lender checks it (issue 19)."""
