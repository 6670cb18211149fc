"""Celery tasks of announcements. They take ids and call a service."""

from celery import shared_task

from evalserver.announcements import services


@shared_task(name="announcements.send_mail", acks_late=True, reject_on_worker_lost=True)
def send_announcement_mail(announcement_id: int) -> str:
    return services.announcement_mail_send(announcement_id=announcement_id)


@shared_task(name="announcements.sweep_mail", acks_late=False, ignore_result=True)
def sweep_announcement_mail() -> int:
    return services.announcements_mail_sweep()
