"""The consumer's page, at the site root."""

from django.urls import path

from portal import acts, views

urlpatterns = [
    path("track/<str:token>/", views.tracking_page, name="tracking-page"),
    path("track/<str:token>/pay/<int:installment_id>/", views.tracking_pay, name="tracking-pay"),
    path("track/<str:token>/files/<int:file_id>/", views.tracking_file, name="tracking-file"),
    path("track/<str:token>/photos/<int:photo_id>/", views.tracking_photo, name="tracking-photo"),
    path("track/<str:token>/code/", acts.code_send, name="tracking-code-send"),
    path("track/<str:token>/verify/", acts.code_verify, name="tracking-code-verify"),
    path("track/<str:token>/logout/", acts.logout, name="tracking-logout"),
    path("track/<str:token>/stages/<int:stage_id>/approve/", acts.approve, name="tracking-approve"),
    path("track/<str:token>/stages/<int:stage_id>/reject/", acts.reject, name="tracking-reject"),
    path("track/<str:token>/stages/<int:stage_id>/book/", acts.book, name="tracking-book"),
    path("track/<str:token>/visits/<int:appointment_id>/move/", acts.move, name="tracking-move"),
    path("track/<str:token>/rating/", acts.rate, name="tracking-rate"),
    path("track/<str:token>/revisions/<int:revision_id>/accept/", acts.revision_accept,
         name="tracking-revision-accept"),
    path("track/<str:token>/revisions/<int:revision_id>/decline/", acts.revision_decline,
         name="tracking-revision-decline"),
]
