output "push_audience" {
  description = "[intake.pubsub] audience in irene.toml."
  value       = local.audience
}

output "push_service_account_email" {
  description = "[intake.pubsub] service_accounts in irene.toml."
  value       = google_service_account.push.email
}

output "dead_letter_subscription" {
  description = "Messages Irene refused max_delivery_attempts times (pull them to look)."
  value       = google_pubsub_subscription.dead_letter.id
}

output "irene_toml" {
  description = "The section to add to irene.toml."
  value       = <<-EOT
    [intake.pubsub]
    audience = "${local.audience}"
    service_accounts = ["${google_service_account.push.email}"]
  EOT
}
