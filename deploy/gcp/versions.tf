terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }
}

provider "google" {
  project = var.project_id
  # the Security Command Center API bills a quota project, also for user credentials
  billing_project       = var.project_id
  user_project_override = true
}
