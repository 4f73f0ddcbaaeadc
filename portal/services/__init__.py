"""The service layer's policy: `authz` is the one place that says who may do what to which environment."""
