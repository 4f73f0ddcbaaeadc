"""Resource Groups Tagging API: moto's walk over every service's resources, safe while they change."""
