"""IAM: policy evaluation and its enforcement on the calls a function makes with its role."""
