"""Tags: a case's controlled vocabulary, which its leads define (create, rename, describe,
retire), and free tags, which any member who may add evidence makes by attaching a new name.
Items are tagged one by one (`tagging`) or many at once from the evidence list (`bulk`, which
also changes sensitivity and gives access in bulk); the list as filtered exports as CSV
(`export`). Every tag and untag is a custody entry of its item, in the same transaction."""
