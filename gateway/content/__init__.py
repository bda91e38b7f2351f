"""Content: templates and their tag catalog, the composer that renders an
email (brand, layout, CSS), MIME building, AES zips.

May import: settings, the store and the foundations; never the entrance, the
queue, the ways in, billing or the faces.
"""
