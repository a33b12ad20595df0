variable "org_id" {
  description = "The numeric id of the Google Cloud organisation whose findings (and audit logs) go to Irene."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.org_id))
    error_message = "org_id is the organisation's numeric id (gcloud organizations list)."
  }
}

variable "project_id" {
  description = "The project that holds the topics, subscriptions and the push service account."
  type        = string
}

variable "irene_url" {
  description = "Irene's public https base URL, without a trailing slash (https://irene.example.com)."
  type        = string

  validation {
    condition     = can(regex("^https://[^\\s/]+(/[^\\s]*[^\\s/])?$", var.irene_url))
    error_message = "irene_url must be an https URL without a trailing slash: Pub/Sub pushes only to https."
  }
}

variable "push_service_account" {
  description = "The account id (the part before @) of the service account Pub/Sub signs its push requests' OIDC tokens as."
  type        = string
  default     = "irene-push"
}

variable "push_audience" {
  description = "The OIDC tokens' audience; [intake.pubsub] audience must be the same. Default: the SCC push endpoint's URL."
  type        = string
  default     = null
}

variable "scc_filter" {
  description = "Which Security Command Center findings are streamed (SCC filter syntax)."
  type        = string
  default     = "state = \"ACTIVE\""
}

variable "audit_logs" {
  description = "Also send the organisation's audit logs (filter below) to Irene's gcp.audit source."
  type        = bool
  default     = false
}

variable "audit_log_filter" {
  description = "Which log entries the organisation sink sends (Logging query language). Default: Admin Activity audit logs."
  type        = string
  default     = "logName:\"cloudaudit.googleapis.com%2Factivity\""
}

variable "max_delivery_attempts" {
  description = "Push attempts before a message goes to the dead-letter topic (5 to 100)."
  type        = number
  default     = 20
}
