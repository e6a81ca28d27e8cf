"""Closing the loop: the vendors' result pushes, received, stored, joined to contact rows.

- ``pushes``: read one push body of a vendor module into a ``ResultRecord``;
- ``outcomes``: the outcome of each contact from its results (pure);
- ``receiver``: the ASGI push receiver and its group-commit writer;
- ``status``: campaign status from the files, the state, the listings and the results;
- ``export``: a campaign's rows with the outcome columns, streamed;
- ``page``: the self-contained status page.

Vendor facts behind it: ``NOTES.md`` beside this file.
"""
