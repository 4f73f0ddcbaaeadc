"""EC2 for Lambda in a VPC: Hyperplane ENIs and what a function in a VPC can reach."""
