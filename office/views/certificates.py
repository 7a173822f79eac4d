"""Office pages of certificates: the holder's agreement and their own certificates."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render

from certificates import selectors, services
from certificates.models import Certificate
from core.errors import DomainError


@login_required
def agreement(request, pk: int, token: str):
    cert = get_object_or_404(Certificate, pk=pk, user=request.user)
    if request.method == "POST":
        try:
            services.certificate_accept(certificate=cert, actor=request.user, token=token)
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "ยอมรับข้อตกลงแล้ว ใบรับรองพร้อมใช้งาน / Agreement accepted.")
        return redirect("certificate-agreement", pk=pk, token=token)
    return render(request, "office/agreement.html", {"certificate": cert, "token": token})


@login_required
def my_certificates(request):
    """The holder's own certificates with their details (name, created, expiry, serial, issuer, status)."""
    certificates = selectors.certificates_visible(user=request.user).filter(user=request.user)
    return render(request, "office/certificates_mine.html", {"certificates": certificates})
