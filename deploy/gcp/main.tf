# Google Cloud -> Irene: Security Command Center findings (and, optionally, the organisation's
# audit logs) published to Pub/Sub and pushed to Irene with an OIDC token Irene verifies
# ([intake.pubsub]). Messages Irene keeps refusing end on a dead-letter topic, kept 7 days.

locals {
  scc_endpoint   = "${var.irene_url}/api/v1/ingest/gcp.scc/pubsub"
  audit_endpoint = "${var.irene_url}/api/v1/ingest/gcp.audit/pubsub"
  audience       = coalesce(var.push_audience, local.scc_endpoint)
  # Pub/Sub's own service agent: mints the push tokens, forwards to the dead-letter topic
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_service" "apis" {
  for_each = toset([
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "securitycenter.googleapis.com",
  ])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# --- The identity Pub/Sub signs its push requests as ---

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = var.push_service_account
  display_name = "Irene Pub/Sub push"
  description  = "Pub/Sub signs the OIDC tokens of its pushes to Irene as this account; it needs no role."

  depends_on = [google_project_service.apis]
}

resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# --- Dead letters: one topic for both subscriptions, with a pull subscription that keeps them ---

resource "google_pubsub_topic" "dead_letter" {
  project = var.project_id
  name    = "irene-dead-letter"

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "irene-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

# --- Security Command Center findings ---

resource "google_pubsub_topic" "scc" {
  project = var.project_id
  name    = "irene-scc-findings"

  depends_on = [google_project_service.apis]
}

resource "google_scc_notification_config" "irene" {
  config_id    = "irene"
  organization = var.org_id
  description  = "Security Command Center findings to Irene"
  pubsub_topic = google_pubsub_topic.scc.id

  streaming_config {
    filter = var.scc_filter
  }
}

# SCC's notification service agent publishes the findings
resource "google_pubsub_topic_iam_member" "scc_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.scc.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_scc_notification_config.irene.service_account}"
}

resource "google_pubsub_subscription" "scc_push" {
  project                    = var.project_id
  name                       = "irene-scc-push"
  topic                      = google_pubsub_topic.scc.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = local.scc_endpoint

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.audience
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_service_account_iam_member.pubsub_mints_push_tokens]
}

resource "google_pubsub_subscription_iam_member" "scc_dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.scc_push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# --- Optional: the organisation's audit logs (gcp.audit events for Sigma rules) ---

resource "google_pubsub_topic" "audit" {
  count   = var.audit_logs ? 1 : 0
  project = var.project_id
  name    = "irene-audit-logs"

  depends_on = [google_project_service.apis]
}

resource "google_logging_organization_sink" "audit" {
  count            = var.audit_logs ? 1 : 0
  name             = "irene-audit-logs"
  org_id           = var.org_id
  description      = "Audit logs to Irene"
  destination      = "pubsub.googleapis.com/${google_pubsub_topic.audit[0].id}"
  include_children = true
  filter           = var.audit_log_filter
}

resource "google_pubsub_topic_iam_member" "audit_sink_publisher" {
  count   = var.audit_logs ? 1 : 0
  project = var.project_id
  topic   = google_pubsub_topic.audit[0].name
  role    = "roles/pubsub.publisher"
  member  = google_logging_organization_sink.audit[0].writer_identity
}

resource "google_pubsub_subscription" "audit_push" {
  count                      = var.audit_logs ? 1 : 0
  project                    = var.project_id
  name                       = "irene-audit-push"
  topic                      = google_pubsub_topic.audit[0].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = local.audit_endpoint

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.audience
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_service_account_iam_member.pubsub_mints_push_tokens]
}

resource "google_pubsub_subscription_iam_member" "audit_dead_letter_subscriber" {
  count        = var.audit_logs ? 1 : 0
  project      = var.project_id
  subscription = google_pubsub_subscription.audit_push[0].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
