from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboard", "0002_leaderboard_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="leaderboardversion",
            name="team_changes",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
