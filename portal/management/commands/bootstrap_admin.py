"""Create the first admin user with a generated password, printed once and stored nowhere else."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create superuser USERNAME (default admin) with a generated password, unless it exists."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")

    def handle(self, *args: Any, username: str, email: str, **options: Any) -> None:
        users = get_user_model()
        if users.objects.filter(username=username).exists():
            self.stdout.write(f"user {username!r} exists already; its password is unchanged")
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email=email, password=password)
        self.stdout.write(f"created admin user {username!r} with password: {password}")
        self.stdout.write("it is shown only now; change it in the admin (top right, 'Change password')")
