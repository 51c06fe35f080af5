"""Detection quality on labelled data: each hunt run on simulated tenants (and replayed real attacks)
against their ground truth. This is the only place that joins readers, simulators and hunts, so the
hunt packages never import either."""
