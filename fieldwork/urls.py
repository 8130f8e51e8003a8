from django.urls import path

from fieldwork import api

urlpatterns = [
    path("technician/jobs/", api.JobListApi.as_view(), name="technician-jobs"),
    path("technician/jobs/<int:job_id>/", api.JobDetailApi.as_view(), name="technician-job"),
    path("technician/jobs/<int:job_id>/check-in/", api.CheckInApi.as_view(), name="technician-job-check-in"),
    path("technician/jobs/<int:job_id>/check-out/", api.CheckOutApi.as_view(), name="technician-job-check-out"),
    path("technician/jobs/<int:job_id>/checklist/", api.ChecklistApi.as_view(), name="technician-job-checklist"),
    path("technician/jobs/<int:job_id>/evidence/", api.EvidenceApi.as_view(), name="technician-job-evidence"),
    path("technician/jobs/<int:job_id>/complete/", api.CompleteApi.as_view(), name="technician-job-complete"),
    path("technician/sync/", api.SyncApi.as_view(), name="technician-sync"),
    # An order's evidence, for whoever may see the order (the order's other paths are workflows.urls).
    path("orders/<int:id>/evidence/", api.OrderEvidenceListApi.as_view(), name="order-evidence"),
    path("orders/<int:id>/evidence/<int:evidence_id>/file/", api.OrderEvidenceFileApi.as_view(),
         name="order-evidence-file"),
]
